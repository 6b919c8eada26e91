from django.db import models


class Run(models.Model):
    """One run of a job view, with the request that started it (for the tests to replay)."""

    view = models.CharField(max_length=64)
    execution = models.CharField(max_length=128)
    job = models.CharField(max_length=130)
    #: The label of the held key that matched (None for an unlabelled key).
    generation = models.IntegerField(null=True)
    #: The generation the signature's kid names: the caller's label, not verified.
    kid_generation = models.IntegerField(null=True)
    method = models.CharField(max_length=8)
    path = models.TextField()
    signature = models.TextField()
    body = models.TextField()
    pid = models.IntegerField()
