"""The shop connector: a WooCommerce-shaped REST shop as catalog source, inventory channel and
order tasks (`orders.download`, `shipments.upload`)."""

from plugins.shop.connector import ShopConnector
from plugins.shop.settings import ShopSettings

__all__ = ["ShopConnector", "ShopSettings"]
