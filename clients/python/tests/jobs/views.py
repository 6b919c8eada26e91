import json
import os

from django.http import HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View

from psu_sched.django import request_path, scheduled_job

from .models import Run


def record(request, view):
    run = request.psu_sched
    Run.objects.create(
        view=view,
        execution=run.execution,
        job=run.job,
        generation=run.generation,
        kid_generation=getattr(run, "kid_generation", None),
        method=request.method,
        path=request_path(request),
        signature=request.headers["X-Psu-Sched-Signature"],
        body=request.body.decode(),
        pid=os.getpid(),
    )
    response = HttpResponse(f"ran {run.execution}", status=201, content_type="text/plain")
    response["X-Job-Answer"] = "unchanged"
    return response


@scheduled_job()
def report(request, word=None):
    return record(request, "report")


@scheduled_job()
class ClassDecorated(View):
    def get(self, request):
        return record(request, "class")

    def post(self, request):
        return record(request, "class")


@method_decorator(scheduled_job(), name="dispatch")
class MethodDecorated(View):
    def get(self, request):
        return record(request, "method")


class Plain(View):
    def get(self, request):
        return record(request, "as-view")


def runs(request):
    """Every run so far, oldest first."""
    return JsonResponse(
        [
            {
                "view": r.view,
                "execution": r.execution,
                "job": r.job,
                "generation": r.generation,
                "kid_generation": r.kid_generation,
                "method": r.method,
                "path": r.path,
                "signature": r.signature,
                "body": r.body,
                "pid": r.pid,
            }
            for r in Run.objects.order_by("id")
        ],
        safe=False,
    )
