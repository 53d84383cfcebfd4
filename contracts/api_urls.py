from django.urls import path

from contracts import api

urlpatterns = [
    path("crm/organisations", api.OrganisationsUpsertApi.as_view(), name="crm_organisations"),
    path("crm/contracts", api.ContractsUpsertApi.as_view(), name="crm_contracts"),
    path("crm/participants", api.ParticipantsUpsertApi.as_view(), name="crm_participants"),
]
