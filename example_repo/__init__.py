"""An example pipeline: product reviews labeled for sentiment on Scale AI, orchestrated by Dagster."""
