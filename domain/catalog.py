"""What Megatron Store sells: the seed catalog, prices in paise."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Product", "PRODUCTS", "BY_SKU"]


class Product(BaseModel):
    """A product on sale; ``initial_stock`` seeds the inventory once."""

    model_config = ConfigDict(frozen=True)

    sku: str
    name: str
    price_paise: int = Field(ge=0)
    initial_stock: int = Field(ge=0)


PRODUCTS: tuple[Product, ...] = (
    Product(sku="IPHONE-15", name="iPhone 15", price_paise=79_900_00, initial_stock=50),
    Product(sku="LAPTOP", name="Laptop", price_paise=64_990_00, initial_stock=30),
    Product(sku="PIXEL-8", name="Google Pixel 8", price_paise=75_999_00, initial_stock=25),
    Product(sku="GALAXY-S24", name="Samsung Galaxy S24", price_paise=74_999_00, initial_stock=25),
    Product(sku="MACBOOK-AIR", name="MacBook Air M3", price_paise=1_14_900_00, initial_stock=10),
    Product(sku="REDMI-13C", name="Redmi 13C", price_paise=8_999_00, initial_stock=100),
)
BY_SKU: dict[str, Product] = {p.sku: p for p in PRODUCTS}
