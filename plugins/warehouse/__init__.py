"""The warehouse connector: orders delivered to a fulfilment warehouse's HTTP JSON API and its
shipments brought back onto them (`orders.deliver`, `shipments.download`)."""

from plugins.warehouse.connector import WarehouseConnector
from plugins.warehouse.settings import WarehouseSettings

__all__ = ["WarehouseConnector", "WarehouseSettings"]
