"""The bundle: one config feeding alerts, dashboards and scrape/deploy objects, and the generator."""
