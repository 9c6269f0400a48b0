from django.urls import path

from agents import views

urlpatterns = [
    path("", views.agents_view, name="agents"),
    path("new/", views.agent_new, name="agent-new"),
    path("review/", views.review_view, name="agents-review"),
    path("review/<int:pk>/", views.review_decide, name="agents-review-decide"),
    path("stop/", views.agents_stop, {"stopped": True}, name="agents-stop"),
    path("start/", views.agents_stop, {"stopped": False}, name="agents-start"),
    path("<int:pk>/", views.agent_view, name="agent"),
    path("<int:pk>/stop/", views.agent_enable, {"enabled": False}, name="agent-stop"),
    path("<int:pk>/start/", views.agent_enable, {"enabled": True}, name="agent-start"),
    path("<int:pk>/change/", views.agent_change, name="agent-change"),
]
