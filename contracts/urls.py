from django.urls import path

from contracts import views

app_name = "contracts"

urlpatterns = [
    path("organisations/", views.organisation_list, name="organisation_list"),
    path("organisations/new/", views.organisation_create, name="organisation_create"),
    path("organisations/<int:pk>/", views.organisation_detail, name="organisation_detail"),
    path("organisations/<int:pk>/edit/", views.organisation_edit, name="organisation_edit"),
    path("organisations/<int:pk>/delete/", views.organisation_delete, name="organisation_delete"),
    path("organisations/<int:pk>/contracts/new/", views.contract_create, name="contract_create"),
    path("contracts/<int:pk>/", views.contract_detail, name="contract_detail"),
    path("contracts/<int:pk>/edit/", views.contract_edit, name="contract_edit"),
    path("contracts/<int:pk>/delete/", views.contract_delete, name="contract_delete"),
    path("contracts/<int:pk>/duplicate/", views.contract_duplicate, name="contract_duplicate"),
    path("contracts/<int:pk>/pricing/", views.contract_pricing, name="contract_pricing"),
    path("contracts/<int:pk>/pricing/add/", views.price_create, name="price_create"),
    path("prices/<int:pk>/edit/", views.price_edit, name="price_edit"),
    path("prices/<int:pk>/delete/", views.price_delete, name="price_delete"),
    path("products/<int:pk>/", views.product_detail, name="product_detail"),
    path("products/<int:pk>/edit/", views.product_edit, name="product_edit"),
]
