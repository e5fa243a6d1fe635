"""Forms of the customer portal: the same fields and limits as the web form."""

from django import forms
from django.utils.translation import gettext_lazy as _

from ..forms import AUTO_DIR_INPUT, MultipleFileField, category_choices_in_tree_order
from ..models import PortalSettings

COMMENT_MAX_CHARS = 2000


class PortalReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Your message"),
        widget=forms.Textarea(attrs={"rows": 5, "dir": "auto"}),
    )
    attachments = MultipleFileField(
        label=_("Attachments"), help_text=_("Screenshots or documents, optional.")
    )


class RatingForm(forms.Form):
    score = forms.TypedChoiceField(label=_("How was the help you got?"), coerce=int, choices=())
    comment = forms.CharField(
        label=_("Anything you want to tell us? (optional)"),
        required=False,
        max_length=COMMENT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "dir": "auto"}),
    )

    def __init__(self, *args, scale: str, **kwargs):
        super().__init__(*args, **kwargs)
        if scale == "good_bad":
            choices = [(1, _("Good")), (0, _("Bad"))]
        else:
            choices = [
                (5, _("5 – Excellent")),
                (4, _("4 – Good")),
                (3, _("3 – OK")),
                (2, _("2 – Poor")),
                (1, _("1 – Very poor")),
            ]
        self.fields["score"].choices = choices
        self.fields["score"].widget = forms.RadioSelect(choices=choices)


class SignInForm(forms.Form):
    email = forms.EmailField(label=_("Your email"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs["autocomplete"] = "email"


class PortalTicketForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=200, widget=AUTO_DIR_INPUT)
    body = forms.CharField(
        label=_("Description"),
        widget=forms.Textarea(attrs={"rows": 6, "dir": "auto"}),
        help_text=_("What happened, and what you expected instead."),
    )
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=None, required=False, empty_label=_("Not sure")
    )
    attachments = MultipleFileField(
        label=_("Attachments"), help_text=_("Screenshots or documents, optional.")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = category_choices_in_tree_order()


class PortalSettingsForm(forms.ModelForm):
    """The tenant's portal settings, for its admins (agent-facing: English)."""

    class Meta:
        model = PortalSettings
        fields = ("language", "reopen_days", "rating_scale", "rating_change_hours")
        labels = {
            "reopen_days": "Days a solved ticket may be reopened",
            "rating_change_hours": "Hours a rating may be changed",
        }
        help_texts = {
            "language": "The language of the portal and of the mail it sends.",
            "reopen_days": "After that, a customer's reply opens a follow-up ticket.",
            "rating_scale": "Ask for good or bad, or for 1 to 5.",
        }
