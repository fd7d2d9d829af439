"""Internal contracts: messages services send each other (never exposed as APIs).

Each module holds the messages one service *provides* (handles); any service may send
them. Like the API contracts, they live apart from the implementations so that no
service imports another. Replies carry the listed fields as extra JSON fields of `Reply`
(read them with `reply.get("field")`).
"""
