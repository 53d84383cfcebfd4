"""Contract Management pages: parse, check permission, call one service, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from contracts import selectors, services
from contracts.forms import ContractForm, OrganisationForm, PriceEditForm, PriceForm, ProductForm
from contracts.models import Contract, ContractPrice, Organisation, Product
from core.access import staff_permission_required
from core.errors import DomainError
from core.forms import add_service_errors
from core.pagination import paginate

PAGE_SIZE = 50


@staff_permission_required("contracts.view_organisation")
def organisation_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    context = paginate(request, selectors.organisation_list(search=search), PAGE_SIZE)
    return render(request, "contracts/organisation_list.html", {**context, "search": search})


@staff_permission_required("contracts.add_organisation")
def organisation_create(request: HttpRequest) -> HttpResponse:
    form = OrganisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organisation = services.organisation_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Organisation {organisation.name} created.")
            return redirect("contracts:organisation_detail", pk=organisation.pk)
    return render(
        request,
        "contracts/form.html",
        {
            "form": form,
            "title": "New Organisation",
            "cancel_url": reverse("contracts:organisation_list"),
            "submit": "Create Organisation",
        },
    )


@staff_permission_required("contracts.view_organisation", "contracts.view_contract")
def organisation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    organisation = get_object_or_404(Organisation, pk=pk)
    search = request.GET.get("q", "").strip()
    context = paginate(
        request, selectors.contract_list(organisation=organisation, search=search), PAGE_SIZE
    )
    return render(
        request,
        "contracts/organisation_detail.html",
        {**context, "organisation": organisation, "search": search},
    )


@staff_permission_required("contracts.change_organisation")
def organisation_edit(request: HttpRequest, pk: int) -> HttpResponse:
    organisation = get_object_or_404(Organisation, pk=pk)
    initial = {"name": organisation.name, "code": organisation.code}
    form = OrganisationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.organisation_update(
                actor=request.user, organisation=organisation, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Organisation saved.")
            return redirect("contracts:organisation_detail", pk=organisation.pk)
    return render(
        request,
        "contracts/form.html",
        {
            "form": form,
            "title": f"Edit {organisation.name}",
            "cancel_url": reverse("contracts:organisation_detail", args=[organisation.pk]),
            "submit": "Save",
            "organisation": organisation,
        },
    )


@staff_permission_required("contracts.delete_organisation")
def organisation_delete(request: HttpRequest, pk: int) -> HttpResponse:
    organisation = get_object_or_404(Organisation, pk=pk)
    if request.method == "POST":
        try:
            services.organisation_delete(actor=request.user, organisation=organisation)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("contracts:organisation_detail", pk=organisation.pk)
        messages.success(request, f"Organisation {organisation.name} deleted.")
        return redirect("contracts:organisation_list")
    return render(
        request,
        "contracts/confirm_delete.html",
        {
            "object": organisation,
            "kind": "organisation",
            "refusal": selectors.deletion_refusal(organisation=organisation),
            "organisation": organisation,
            "cancel_url": reverse("contracts:organisation_detail", args=[organisation.pk]),
            "warning": "Its contracts and their prices are deleted with it.",
        },
    )


def _contract_initial(contract: Contract) -> dict:
    return {
        "name": contract.name,
        "code": contract.code,
        "invitation_prefix": contract.invitation_prefix,
        "start_date": contract.start_date,
        "end_date": contract.end_date,
        "status": contract.status,
        "currency": contract.currency,
        "default_code_width": contract.default_code_width,
        "participant_identifier": contract.participant_identifier,
        "is_closed_group": contract.is_closed_group,
        "max_bookings": contract.max_bookings,
        "max_bookings_per_day": contract.max_bookings_per_day,
        "budget_cap": contract.budget_cap,
        "alert_emails": contract.alert_emails,
    }


@staff_permission_required("contracts.add_contract")
def contract_create(request: HttpRequest, pk: int) -> HttpResponse:
    organisation = get_object_or_404(Organisation, pk=pk)
    form = ContractForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contract = services.contract_create(
                actor=request.user, organisation=organisation, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Contract {contract.name} created. Add its prices next.")
            return redirect("contracts:contract_pricing", pk=contract.pk)
    return render(
        request,
        "contracts/form.html",
        {
            "form": form,
            "title": "New Contract",
            "cancel_url": reverse("contracts:organisation_detail", args=[organisation.pk]),
            "submit": "Create Contract",
            "organisation": organisation,
        },
    )


def _contract(pk: int) -> Contract:
    return get_object_or_404(Contract.objects.select_related("organisation"), pk=pk)


@staff_permission_required("contracts.view_contract")
def contract_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    return render(
        request,
        "contracts/contract_detail.html",
        {
            "contract": contract,
            "organisation": contract.organisation,
            "prices": selectors.contract_prices(contract=contract),
            "tab": "overview",
        },
    )


@staff_permission_required("contracts.change_contract")
def contract_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    form = ContractForm(request.POST or None, initial=_contract_initial(contract))
    if request.method == "POST" and form.is_valid():
        try:
            services.contract_update(actor=request.user, contract=contract, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Contract saved.")
            return redirect("contracts:contract_detail", pk=contract.pk)
    return render(
        request,
        "contracts/form.html",
        {
            "form": form,
            "title": f"Edit {contract.name}",
            "cancel_url": reverse("contracts:contract_detail", args=[contract.pk]),
            "submit": "Save",
            "organisation": contract.organisation,
            "contract": contract,
        },
    )


@staff_permission_required("contracts.delete_contract")
def contract_delete(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    if request.method == "POST":
        try:
            services.contract_delete(actor=request.user, contract=contract)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("contracts:contract_detail", pk=contract.pk)
        messages.success(request, f"Contract {contract.name} deleted.")
        return redirect("contracts:organisation_detail", pk=contract.organisation_id)
    return render(
        request,
        "contracts/confirm_delete.html",
        {
            "object": contract,
            "kind": "contract",
            "refusal": selectors.deletion_refusal(contract=contract),
            "cancel_url": reverse("contracts:contract_detail", args=[contract.pk]),
            "organisation": contract.organisation,
            "contract": contract,
            "warning": "Its prices are deleted with it.",
        },
    )


@require_POST
@staff_permission_required("contracts.add_contract")
def contract_duplicate(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    copy = services.contract_duplicate(actor=request.user, contract=contract)
    messages.success(
        request, f"Contract duplicated as {copy.name} (draft, with {copy.prices.count()} prices)."
    )
    return redirect("contracts:contract_edit", pk=copy.pk)


@staff_permission_required("contracts.view_contract", "contracts.view_contractprice")
def contract_pricing(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    return render(
        request,
        "contracts/pricing.html",
        {
            "contract": contract,
            "organisation": contract.organisation,
            "prices": selectors.contract_prices(contract=contract),
            "tab": "pricing",
        },
    )


@staff_permission_required("contracts.add_contractprice")
def price_create(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(pk)
    form = PriceForm(request.POST or None, initial={"currency": contract.currency})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.contract_price_add(actor=request.user, contract=contract, **data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Price {data['price_code'].upper()} added.")
            return redirect("contracts:contract_pricing", pk=contract.pk)
    return render(
        request,
        "contracts/form.html",
        {
            "form": form,
            "title": "Add Product / Price",
            "cancel_url": reverse("contracts:contract_pricing", args=[contract.pk]),
            "submit": "Add Price",
            "organisation": contract.organisation,
            "contract": contract,
        },
    )


@staff_permission_required("contracts.change_contractprice")
def price_edit(request: HttpRequest, pk: int) -> HttpResponse:
    price = get_object_or_404(ContractPrice.objects.select_related("contract__organisation"), pk=pk)
    initial = {"price_code": price.price_code, "amount": price.amount, "currency": price.currency}
    form = PriceEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.contract_price_update(actor=request.user, price=price, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Price saved.")
            return redirect("contracts:contract_pricing", pk=price.contract_id)
    return render(
        request,
        "contracts/form.html",
        {
            "form": form,
            "title": f"Edit price {price.price_code}",
            "cancel_url": reverse("contracts:contract_pricing", args=[price.contract_id]),
            "submit": "Save",
            "organisation": price.contract.organisation,
            "contract": price.contract,
        },
    )


@staff_permission_required("contracts.delete_contractprice")
def price_delete(request: HttpRequest, pk: int) -> HttpResponse:
    price = get_object_or_404(ContractPrice.objects.select_related("contract__organisation"), pk=pk)
    if request.method == "POST":
        try:
            services.contract_price_delete(actor=request.user, price=price)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Price {price.price_code} deleted.")
        return redirect("contracts:contract_pricing", pk=price.contract_id)
    return render(
        request,
        "contracts/confirm_delete.html",
        {
            "object": price,
            "kind": "price",
            "refusal": selectors.price_deletion_refusal(price=price),
            "cancel_url": reverse("contracts:contract_pricing", args=[price.contract_id]),
            "organisation": price.contract.organisation,
            "contract": price.contract,
        },
    )


@staff_permission_required("contracts.view_product")
def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk)
    prices = product.contract_prices.select_related("contract__organisation").order_by(
        "contract__name"
    )
    return render(request, "contracts/product_detail.html", {"product": product, "prices": prices})


@staff_permission_required("contracts.change_product")
def product_edit(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk)
    initial = {
        "name": product.name,
        "description": product.description,
        "base_price": product.base_price,
        "currency": product.currency,
    }
    form = ProductForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.product_update(actor=request.user, product=product, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Product {product.name} saved.")
            return redirect("contracts:product_detail", pk=product.pk)
    return render(
        request,
        "contracts/form.html",
        {
            "form": form,
            "title": f"Edit product {product.name}",
            "submit": "Save",
            "cancel_url": reverse("contracts:product_detail", args=[product.pk]),
        },
    )
