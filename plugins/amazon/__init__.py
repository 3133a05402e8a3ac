"""The Amazon channel: listings sent through the Selling Partner API's JSON_LISTINGS_FEED."""

from plugins.amazon.channel import RESULTS_TASK, AmazonChannel
from plugins.amazon.settings import AmazonSettings

__all__ = ["RESULTS_TASK", "AmazonChannel", "AmazonSettings"]
