from django.urls import path

from jobs import views
from psu_sched.django import scheduled_job

urlpatterns = [
    path("scheduled/report", views.report),
    path("scheduled/other", views.report),
    path("scheduled/<str:word>", views.report),
    path("cbv/class", views.ClassDecorated.as_view()),
    path("cbv/method", views.MethodDecorated.as_view()),
    path("cbv/as-view", scheduled_job()(views.Plain.as_view())),
    # Not a job: what the jobs recorded, for the tests to read.
    path("test-only/runs", views.runs),
]
