"""scalestack app template: a FastAPI service that spreads reads over replicas and caches hot reads."""
