"""Project-local cache backends: subclasses of Django's, as a project may write them."""

from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache


class QuietDummyCache(DummyCache):
    pass


class TracedFileBasedCache(FileBasedCache):
    pass


class TracedLocMemCache(LocMemCache):
    pass
