"""django-guardian grants inside a tenant (used for private group queues)."""

from guardian.shortcuts import assign_perm, get_objects_for_user

from helpdesk.models import SupportGroup
from helpdesk.tenancy import tenant_context
from tests.factories import SupportGroupFactory


def test_a_grant_on_one_group_reaches_that_group_only(tenant, agent, dispatcher):
    with tenant_context(tenant):
        private = SupportGroupFactory(name="Security incidents")
        SupportGroupFactory(name="First line")
        assign_perm("helpdesk.view_supportgroup", agent, private)
        assert agent.has_perm("helpdesk.view_supportgroup", private)
        assert not dispatcher.has_perm("helpdesk.view_supportgroup", private)
        # Always on a queryset already limited to the tenant.
        visible = get_objects_for_user(
            agent, "helpdesk.view_supportgroup", klass=SupportGroup.objects.all()
        )
        assert list(visible) == [private]
