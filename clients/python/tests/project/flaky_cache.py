"""A cache whose `add` answers False without storing, as DatabaseCache does on a database
error ("database is locked"), for the first `FAILURES` calls (class attribute)."""

from django.core.cache.backends.locmem import LocMemCache


class FlakyCache(LocMemCache):
    failures = 0

    def add(self, *args, **kwargs):
        if FlakyCache.failures > 0:
            FlakyCache.failures -= 1
            return False
        return super().add(*args, **kwargs)
