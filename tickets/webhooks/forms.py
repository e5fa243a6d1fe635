from django import forms

from ..models import Webhook


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="For you: where it goes, e.g. “Ops Slack”.")
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="Where each event is posted (https:// recommended). It must be reachable "
        "on the public internet.",
    )
    format = forms.ChoiceField(
        choices=Webhook.Format.choices,
        initial=Webhook.Format.JSON,
        help_text='Slack-compatible posts {"text": …}, for Slack\'s incoming webhooks and '
        "chat tools that copy them.",
    )
    events = forms.MultipleChoiceField(
        label="Events to send",
        choices=Webhook.EventName.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Webhook.EventName.CREATED],
    )
    is_active = forms.BooleanField(label="Active", required=False, initial=True)


class DeliveryLogForm(forms.Form):
    """The log's paging: attempts older than `before` (an attempt id)."""

    before = forms.IntegerField(required=False, min_value=1)
