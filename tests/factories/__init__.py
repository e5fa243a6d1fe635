"""Factories. Tenant-owned rows take the active tenant (tenant_context), so a
fixture cannot mix two tenants by accident."""

import factory
from django.contrib.auth import get_user_model

from helpdesk.models import Membership, SupportGroup, Tenant
from helpdesk.tenancy import current_tenant
from tickets import services
from tickets.models import Category, Contact, Message, Ticket

PASSWORD = "correct-horse-battery"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant{n}")
    name = factory.Sequence(lambda n: f"Tenant {n}")
    ticket_prefix = factory.Sequence(lambda n: f"T{n}")
    time_zone = "Europe/Berlin"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.AGENT


class TenantOwnedFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    tenant = factory.LazyFunction(current_tenant)


class ContactFactory(TenantOwnedFactory):
    class Meta:
        model = Contact

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    name = factory.Faker("name")


class SupportGroupFactory(TenantOwnedFactory):
    class Meta:
        model = SupportGroup

    name = factory.Sequence(lambda n: f"Group {n}")


class CategoryFactory(TenantOwnedFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")


class TicketFactory(factory.Factory):
    """Tickets are made by the service, as in production: number, first
    message and events included."""

    class Meta:
        model = Ticket

    requester = factory.SubFactory(ContactFactory)
    subject = factory.Faker("sentence", nb_words=6)
    body = factory.Faker("paragraph")
    channel = Ticket.Channel.EMAIL

    @classmethod
    def _create(cls, model_class, **kwargs):
        return services.ticket_create(**kwargs)

    _build = _create


def add_reply(ticket, agent, body="Thanks, looking into it.", kind=Message.Kind.REPLY):
    return services.message_add(ticket=ticket, kind=kind, body=body, author_user=agent)
