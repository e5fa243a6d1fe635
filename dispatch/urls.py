from django.urls import path

from helpdesk.tenancy import tenant_pages

from . import views, views_people, views_weights

app_name = "dispatch"

# Pages of one tenant, under /<tenant>/ (helpdesk.tenancy.tenant_pages).
tenant_urlpatterns = [
    path("settings/routing/", views.rule_list, name="rules"),
    path("settings/routing/new/", views.rule_edit, name="rule_new"),
    path("settings/routing/test/", views.rule_tester, name="rule_tester"),
    path("settings/routing/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("settings/routing/<int:rule_id>/move/", views.rule_move, name="rule_move"),
    path("settings/routing/<int:rule_id>/toggle/", views.rule_toggle, name="rule_toggle"),
    path("settings/routing/<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
    path("settings/routing/agents/", views.agent_list, name="agents"),
    path("settings/routing/weights/", views_weights.weights_edit, name="weights"),
    path("settings/routing/groups/<int:group_id>/", views.group_edit, name="group_edit"),
    path("dispatch/", views.dispatch_home, name="home"),
    path("dispatch/availability/", views.availability_set, name="availability"),
    path(
        "dispatch/availability/switch/",
        views_people.availability_widget,
        name="availability_widget",
    ),
    path("dispatch/next/", views.get_next, name="get_next"),
    path("dispatch/leader/", views_people.leader_queue, name="leader"),
    path(
        "dispatch/leader/<int:number>/assign/",
        views_people.leader_assign_view,
        name="leader_assign",
    ),
    path("dispatch/review/", views.review_queue, name="review"),
    path("dispatch/review/<int:decision_id>/", views.review_assign, name="review_assign"),
    path("dispatch/tickets/<int:number>/why/", views.why_this_agent, name="why"),
    path("dispatch/tickets/<int:number>/escalate/", views.escalate, name="escalate"),
    path("dispatch/tickets/<int:number>/accept/", views_people.accept, name="accept"),
    path("dispatch/tickets/<int:number>/decline/", views_people.decline, name="decline"),
    path("dispatch/tickets/<int:number>/reroute/", views.reroute, name="reroute"),
]

urlpatterns = [tenant_pages(tenant_urlpatterns)]
