"""The bus: how services talk. A small public API with two transports behind it.

Semantics (both transports, same tests):

- `register(service)`: a service receives every message whose `service_id` is its id.
- `call(msg)`: request/reply. Always returns a `Reply`, never raises for a remote
  failure: a failed handler gives `success=False` with its error; no handler for the
  service or the message name gives `SYS.1008`; no reply within the timeout gives
  `SYS.1001` (the handler may still finish; its late reply is dropped).
- `send(msg)`: fire and forget (still routed exactly like `call`).
- `publish(event)` / `subscribe(pattern, handler)`: fan-out events; `pattern` is an
  event name or AMQP-topic style wildcard (`*`, `#`) over dot-separated names.

Timeouts: the message's own `timeout` (ms) wins; otherwise the deadline of the message
being handled (carried across hops); otherwise the bus default.

`LocalBus` (in-process, the default) lives in `local.py`, `AmqpBus` (RabbitMQ via
aio-pika) in `amqp.py`.
"""

from cloudbus.core.bus.base import Bus, Endpoint, EventHandler, Subscription, current_deadline

__all__ = ["Bus", "Endpoint", "EventHandler", "Subscription", "current_deadline"]
