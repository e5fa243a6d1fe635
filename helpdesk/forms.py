import zoneinfo

from django import forms

from .models import ApiKey, Membership, Tenant


def time_zone_choices() -> list[tuple[str, str]]:
    """Every IANA zone the server knows, sorted, for the time zone select."""
    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


class TenantSettingsForm(forms.ModelForm):
    # A select of every IANA zone (validated against the same list), with a
    # filter box beside it (static/js/app.js) so the long list is searchable.
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=time_zone_choices,
        help_text="Used for dates, times and business hours. Type in the filter to find yours.",
    )

    class Meta:
        model = Tenant
        fields = [
            "name",
            "ticket_prefix",
            "time_zone",
            "brand_color",
            "support_email",
            "require_two_factor",
        ]
        widgets = {"brand_color": forms.TextInput(attrs={"type": "color"})}
        help_texts = {"brand_color": "The colour of buttons and links."}


class LogoForm(forms.Form):
    logo = forms.FileField(
        help_text="PNG, JPEG, GIF or WebP, at most 512 KB. Shown in the header.",
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}
        ),
    )


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=80, help_text="The system that will use it, e.g. Phone system."
    )
    scope = forms.ChoiceField(
        choices=ApiKey.Scope.choices,
        initial=ApiKey.Scope.READ,
        help_text="Read lists and reads tickets; write also creates and changes them.",
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)
    role = forms.ChoiceField(
        choices=Membership.Role.choices,
        initial=Membership.Role.AGENT,
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class AcceptNewUserForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    username = forms.CharField(max_length=150, help_text="What you sign in with.")
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Password again", widget=forms.PasswordInput, strip=False)

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data


class GroupForm(forms.Form):
    name = forms.CharField(max_length=80)
    description = forms.CharField(max_length=200, required=False)


class GroupMemberForm(forms.Form):
    user = forms.TypedChoiceField(label="Add a member", coerce=int, choices=())

    def __init__(self, *args, people=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = [("", "Choose someone"), *people]


AUDIT_AREAS = [
    ("", "Every area"),
    ("tenant", "Help desk settings"),
    ("member", "People"),
    ("invitation", "Invitations"),
    ("group", "Groups"),
    ("category", "Categories"),
    ("tag", "Tags"),
    ("canned", "Canned responses"),
    ("mailbox", "Mailboxes"),
    ("api_key", "API keys"),
    ("inbound_email", "Quarantined mail"),
    ("event", "Failed work"),
]


class AuditFilterForm(forms.Form):
    person = forms.TypedChoiceField(label="Person", coerce=int, required=False, empty_value=None)
    area = forms.ChoiceField(label="Area", choices=AUDIT_AREAS, required=False)
    before = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, people=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = [("", "Anyone"), *people]
