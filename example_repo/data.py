"""Deterministic synthetic product reviews, so the example runs anywhere without a data source."""

import hashlib

import pandas as pd

PRODUCTS = ["headphones", "phone case", "charger", "smart watch", "keyboard"]
OPENINGS = {
    "positive": ["Love this {p}", "Great {p}, works perfectly", "Best {p} I have owned"],
    "negative": ["The {p} broke after a week", "Terrible {p}, do not buy", "Disappointed with this {p}"],
    "neutral": ["The {p} arrived on time", "It is a {p}", "Average {p}, nothing special"],
}


def reviews_for_day(day: str, count: int = 24) -> pd.DataFrame:
    """``count`` reviews for a day: review_id, product, text, and the writer's own star rating."""
    rows = []
    for i in range(count):
        digest = int(hashlib.sha256(f"{day}/{i}".encode()).hexdigest(), 16)
        sentiment = list(OPENINGS)[digest % 3]
        product = PRODUCTS[(digest >> 8) % len(PRODUCTS)]
        template = OPENINGS[sentiment][(digest >> 16) % 3]
        stars = {"positive": 5, "negative": 1, "neutral": 3}[sentiment]
        rows.append({"review_id": f"{day}-{i:04d}", "product": product, "text": template.format(p=product),
                     "stars": stars})
    return pd.DataFrame(rows)
