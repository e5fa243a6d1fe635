from django.contrib import admin

from .models import Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    """Platform staff create tenants and their first admins here; everything
    inside a tenant is edited in the tenant's own pages, through its services."""

    list_display = ["name", "slug", "ticket_prefix", "time_zone"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]
