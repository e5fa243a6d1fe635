from django import forms

from .models import ApiKey, Tenant


class TenantSettingsForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ["name", "ticket_prefix", "time_zone", "brand_color", "support_email"]
        widgets = {"brand_color": forms.TextInput(attrs={"type": "color"})}


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=80, help_text="The system that will use it, e.g. Phone system."
    )
    scope = forms.ChoiceField(
        choices=ApiKey.Scope.choices,
        initial=ApiKey.Scope.READ,
        help_text="Read lists and reads tickets; write also creates and changes them.",
    )
