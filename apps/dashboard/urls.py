from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("widgets/add/", views.widget_add, name="widget_add"),
    path("widgets/<int:index>/remove/", views.widget_remove, name="widget_remove"),
    path("widgets/<int:index>/move/", views.widget_move, name="widget_move"),
    path("layout/", views.layout_replace, name="layout"),
    path("layout/reset/", views.layout_reset, name="layout_reset"),
    path("demo-data/", views.demo_data, name="demo_data"),
]
