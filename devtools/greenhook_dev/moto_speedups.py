"""Targeted speed-ups of moto 5.2.5 internals for the local stack (`install()`).

Measured on this machine (issue 10): under load moto's own algorithms, not the HTTP hops,
bound the local stack. Each patch below keeps moto's behaviour (same results, same errors,
same order) and only removes repeated work; tests/integration/test_moto_speedups.py runs
the same calls with and without them. Nothing here is a replacement of a service.

DynamoDB UpdateItem (~29 ms for greenhook's 14-attribute SET on a new item, in-process):
- `ActionCountValidator` and `OverlappingPathsValidator` call `find_clauses` on every
  UpdateExpression node of the AST, and each call walks the node's whole subtree: quadratic
  in the number of actions. Within those two (read-only) traversals the result per node is
  memoised, so each subtree is walked once.
- `UpdateExpressionParser.make` tokenises and parses the same expression text twice per
  request (~2.4 ms each for 14 actions): the tree is kept by its text. Nothing changes a
  parsed tree: callers read it, and each validator works on its own copy.
- that copy is a `deepcopy` of the tree (~2.5 ms): a pickle round trip builds the same
  tree in half the time.
- `DepthFirstTraverser` rebuilds its processing map for every node it visits and checks
  node types with ABC isinstance; both are cached per traverser and per node class.
SQS (each call scans the whole queue, so its cost grows with the queue's depth):
- `Queue.messages` and the ApproximateNumberOfMessages* counts read the clock twice per
  message through datetime arithmetic: one `time.time()` per call instead.
- `Message.had_receipt_handle` built a new list per message per lookup (delete, change
  visibility): a membership test without the list.
- `Queue.add_message` (every SendMessage) read `self.attributes`, which counts the whole
  queue three times, only to ask whether content-based deduplication is on: the flag itself.
moto (every request): `camelcase_to_underscores`, a character loop, runs per request and per
queue attribute on the same few names: memoised. `call_action` lists the response class's
methods with `inspect.getmembers` on every request: the list is kept per class.
EventBridge PutEvents:
- every target of a matched rule runs `EventTemplateParser.parse`, which builds a new
  jsonpath parser (ply's yacc tables, ~5 ms) for each of its eight paths, per event: the
  parsed paths are kept by their text (a parsed path is only read by `find`).
moto's server:
- `DomainDispatcherApplication` lists moto's package directory (~200 `isdir` calls) on every
  request to recognise a backend name: the listing is cached, it never changes.
"""

from __future__ import annotations

import copy
import functools
import pickle
import threading
import time
from typing import Any

_installed = False
_memo = threading.local()  # find_clauses results while a read-only traversal runs


def _now_millis() -> float:
    # moto.core.utils.unix_time_millis() without an argument: utcnow() - epoch, in ms.
    return time.time() * 1000.0


def _tree_copy(value: Any) -> Any:
    from moto.dynamodb.parsing.ast_nodes import Node

    if isinstance(value, Node):  # an expression tree, not an attribute value (own deepcopy)
        try:
            return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        except (pickle.PicklingError, TypeError, AttributeError):
            pass
    return copy.deepcopy(value)


def _patch_dynamodb_parsing() -> None:
    from moto.dynamodb.parsing import ast_nodes, expressions, validators

    parser = expressions.UpdateExpressionParser
    make = functools.lru_cache(maxsize=1024)(parser.make.__func__)
    parser.make = classmethod(make)
    validators.deepcopy = _tree_copy

    node_find_clauses = ast_nodes.Node.find_clauses

    def find_clauses(self: Any, clause_types: Any) -> list:
        memo = getattr(_memo, "clauses", None)
        if memo is None:
            return node_find_clauses(self, clause_types)
        key = (id(self), tuple(clause_types))
        if key not in memo:
            memo[key] = node_find_clauses(self, clause_types)  # children hit the memo
        return list(memo[key])

    def memoised_traverse(traverse: Any) -> Any:
        @functools.wraps(traverse)
        def run(self: Any, node: Any) -> Any:
            _memo.clauses = {}  # ids are stable: the tree is neither freed nor changed here
            try:
                return traverse(self, node)
            finally:
                _memo.clauses = None

        return run

    ast_nodes.Node.find_clauses = find_clauses
    for validator in (validators.ActionCountValidator, validators.OverlappingPathsValidator):
        validator.traverse = memoised_traverse(validator.traverse)

    traverser = ast_nodes.DepthFirstTraverser
    is_node: dict[type, bool] = {}

    def processing_map(self: Any) -> dict:
        cached = self.__dict__.get("_speedups_map")
        if cached is None:
            cached = self.__dict__["_speedups_map"] = self._processing_map()
        return cached

    def nodes_to_be_processed(self: Any) -> tuple:
        return tuple(processing_map(self))

    def process(self: Any, node: Any) -> Any:
        for class_key, processor in processing_map(self).items():
            if isinstance(node, class_key):
                return processor(node)
        return None

    def wanted(self: Any, node_type: type) -> bool:
        cache = self.__dict__.setdefault("_speedups_wanted", {})
        if node_type not in cache:
            cache[node_type] = issubclass(node_type, self.nodes_to_be_processed())
        return cache[node_type]

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        node_type = type(node)
        if node_type not in is_node:
            is_node[node_type] = isinstance(node, ast_nodes.Node)
        if is_node[node_type]:
            parent_node = node.parent
            if node.children is not None:
                for i, child_node in enumerate(node.children):
                    self.pre_processing_of_child(node, i)
                    self.traverse_node_recursively(child_node, i)
            if wanted(self, node_type):
                node = self.process(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    traverser.nodes_to_be_processed = nodes_to_be_processed
    traverser.process = process
    traverser.traverse_node_recursively = traverse_node_recursively


def _patch_sqs() -> None:
    from moto.sqs import models

    def messages(self: Any) -> list:
        now = _now_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def delayed(self: Any) -> int:
        now = _now_millis()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def not_visible(self: Any) -> int:
        now = _now_millis()
        return sum(1 for m in self._messages if not now > m.visible_at)

    def had_receipt_handle(self: Any, receipt_handle: str) -> bool:
        return receipt_handle == self.receipt_handle or receipt_handle in self._old_receipt_handles

    models.Queue.messages = property(messages)
    models.Queue.approximate_number_of_messages_delayed = property(delayed)
    models.Queue.approximate_number_of_messages_not_visible = property(not_visible)
    models.Message.had_receipt_handle = had_receipt_handle

    queue_add_message = models.Queue.add_message

    def add_message(self: Any, message: Any) -> None:
        if not self.fifo_queue or self.lambda_event_source_mappings:
            return queue_add_message(self, message)
        # moto's FIFO branch, with the flag read directly (`attributes` renders it "true")
        if self.content_based_deduplication is True or message.deduplication_id:
            for m in self._messages:
                if m.deduplication_id == message.deduplication_id:
                    diff = message.sent_timestamp - m.sent_timestamp
                    if diff / 1000 < models.DEDUPLICATION_TIME_IN_SECONDS:
                        return None
        with self._messages_lock:
            self._messages.append(message)
            self._messages_lock.notify_all()
        return None

    models.Queue.add_message = add_message


def _patch_per_request() -> None:
    import sys

    # the callers on every request, imported before their names are replaced
    import moto.core.responses
    import moto.sqs.models
    from moto.core import utils

    original = utils.camelcase_to_underscores
    cached = functools.lru_cache(maxsize=4096)(original)
    utils.camelcase_to_underscores = cached
    # modules that imported the name already hold the original
    for name, module in list(sys.modules.items()):
        held = getattr(module, "camelcase_to_underscores", None)
        if name.startswith("moto.") and held is original:
            module.camelcase_to_underscores = cached

    listed = moto.core.responses.method_names_from_class
    methods: dict[tuple[type, int], tuple[str, ...]] = {}

    def method_names_from_class(clazz: type) -> list[str]:
        key = (clazz, len(vars(clazz)))  # an operation added later (moto_move_task) counts
        if key not in methods:
            methods[key] = tuple(listed(clazz))
        return list(methods[key])

    moto.core.responses.method_names_from_class = method_names_from_class


def _patch_events() -> None:
    from jsonpath_ng import ext

    ext.parse = functools.lru_cache(maxsize=512)(ext.parse)  # moto imports it per call


def _patch_server() -> None:
    from moto import backends

    listing = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: listing


def install() -> None:
    """Apply every patch once per process (idempotent; moto's state is untouched)."""
    global _installed
    if _installed:
        return
    _patch_dynamodb_parsing()
    _patch_sqs()
    _patch_per_request()
    _patch_events()
    _patch_server()
    _installed = True
