from django import forms

from .models import Tenant


class TenantSettingsForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ["name", "ticket_prefix", "time_zone", "brand_color", "support_email"]
        widgets = {"brand_color": forms.TextInput(attrs={"type": "color"})}
