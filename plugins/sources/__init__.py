"""Where a feed's records come from: transports (how its bytes arrive) and formats (how those
bytes become records), for the `feed` source connector (`plugins.feed`).

Everything streams: a transport hands out a `FeedStream` that is read once from the start, and a
format reads it record by record, so memory stays bounded whatever the feed's size. Every
failure is a `core.errors.ConnectorError` saying what was wrong and where.
"""
