from django.urls import path

from invitations import views

app_name = "invitations"

urlpatterns = [
    path("contracts/<int:pk>/codes/", views.code_list, name="code_list"),
    path("contracts/<int:pk>/codes/generate/", views.code_generate, name="code_generate"),
    path("contracts/<int:pk>/codes/csv/", views.code_export, name="code_export"),
    path("batches/<int:pk>/progress/", views.batch_progress, name="batch_progress"),
    path("codes/<int:pk>/", views.code_detail, name="code_detail"),
    path("codes/<int:pk>/edit/", views.code_edit, name="code_edit"),
    path("codes/<int:pk>/archive/", views.code_archive, name="code_archive"),
    path("codes/<int:pk>/delete/", views.code_delete, name="code_delete"),
]
