"""The simulated CRM's own pages (demo and tests only, at /sim/crm/): what a sales user of the CRM
sees and changes. A change is saved in the CRM's tables and notified to the back office by a signed
webhook after commit, as a real CRM would."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from sim import crm
from sim.models import SimCrmContact


class ContactChangeForm(forms.Form):
    sales_stage = forms.ChoiceField(label="Sales stage", choices=[(s, s.capitalize()) for s in crm.STAGES])
    tags = forms.CharField(label="Tags", required=False, max_length=300, help_text="Comma-separated")
    note_kind = forms.ChoiceField(
        label="Record type", choices=[("note", "Note"), ("call", "Call"), ("email", "E-mail"), ("meeting", "Meeting")]
    )
    note = forms.CharField(label="Add a communication record", required=False, max_length=2000, widget=forms.Textarea)

    def clean_tags(self) -> list[str]:
        tags = [t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()]
        if any(len(t) > 60 for t in tags):
            raise forms.ValidationError("A tag is at most 60 characters.")
        return tags


def crm_contacts_view(request: HttpRequest) -> HttpResponse:
    contacts = SimCrmContact.objects.order_by("-updated_at")[:200]
    return render(request, "sim/crm_contacts.html", {"contacts": contacts})


def crm_contact_view(request: HttpRequest, crm_id: str) -> HttpResponse:
    contact = get_object_or_404(SimCrmContact, crm_id=crm_id)
    initial = {"sales_stage": contact.sales_stage, "tags": ", ".join(contact.tags), "note_kind": "note"}
    form = ContactChangeForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            crm.contact_change(
                crm_id=contact.crm_id,
                sales_stage=data["sales_stage"],
                tags=data["tags"],
                note=data["note"].strip(),
                note_kind=data["note_kind"],
                author=request.user.get_username(),
            )
            messages.success(request, f"Saved {contact.crm_id}; the back office is notified.")
            return redirect("sim-crm-contact", crm_id=contact.crm_id)
        status = 400
    else:
        status = 200
    return render(
        request,
        "sim/crm_contact.html",
        {
            "contact": contact,
            "form": form,
            "communications": contact.communications.order_by("-occurred_at"),
            "notifications": contact.notifications.order_by("-id")[:10],
        },
        status=status,
    )
