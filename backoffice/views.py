from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ops.roles import PERMISSIONS


def home(request: HttpRequest) -> HttpResponse:
    allowed = [(code, label) for code, label in PERMISSIONS.items() if request.user.has_perm(f"ops.{code}")]
    return render(request, "home.html", {"allowed": allowed})
