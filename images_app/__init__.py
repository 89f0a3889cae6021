"""images_app: a pluggable Django app that speaks a legacy image service's API."""
