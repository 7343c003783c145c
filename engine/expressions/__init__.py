"""Thaiyyal's expression language: our own lexer, parser and compiler.

Contract used by the payload loader and the nodes (keep it stable):

    expr = compile_expression("item % 3 == 0")   # ExpressionSyntaxError(reason, column) if bad
    expr.source                                   # the text
    expr.evaluate(scope, input=x)                 # -> value; ExpressionError on failure
    expr.evaluate(scope, input=x, item=v, index=i, items=arr, accumulator=acc)
    expr.filter(items, scope, input=x)            # -> (kept items, error_count); an item whose
                                                  #    evaluation errors is not kept
    expr.map(items, scope, input=x)               # -> (results, failed_count); failed items dropped
    expr.reduce(items, initial, scope, input=x)   # -> accumulated value;
                                                  #    ExpressionError names the index
    expr.node_refs                                # ids read with node.<id> (frozenset)

Names: `item` is the current element in per-item evaluation; `input` is the node's input;
a bare name resolves on `item` when there is one, else on `input`. Without an item (plain
evaluate), `item` is the input, as in Thaiyyal.

Language reference
------------------
Literals: numbers (`3`, `2.5`, `1e3`, `.5`), strings in single or double quotes with JS
escapes (`\\n`, `\\t`, `\\xNN`, `\\uNNNN`, `\\u{N...}`), `true`, `false`, `null`
(`undefined` is null), arrays `[1, "a", item.x]`.

Names: `item`, `input`, `index`, `items`, `accumulator`; `variables.x`, `context.x`,
`node.<id>.field` (ids may contain `-`: see lexer.py; `node["any id"]` works too); a bare
name `age` is a field of the item (or input) and must exist. `.field`, `[index]`,
`["key"]` and `.length` read values; a missing field is null.

Operators, by increasing precedence: `c ? a : b`; `||`; `&&`; `== !=` (`===`/`!==` are
the same); `< <= > >=`; `+ -`; `* / %`; unary `! - +`. An expression starting with a
comparison (`>= 18`, `== "x"`) compares the item/input, or its `value` field.
Value rules (JS-like, Thaiyyal-compatible) are in runtime.py.

Functions (functions.py, dates.py): pow sqrt abs floor ceil round min max sum avg;
map(arr, expr) and filter(arr, expr), where expr sees each element as `item` (and
`index`, `items`); sort slice sample unique zip reverse flatten first last join;
toUpperCase toLowerCase upper lower trim includes startsWith endsWith replace replaceAll
split toString toFixed contains isNull coalesce; now parseDate toEpoch toEpochMillis
fromEpoch fromEpochMillis dateAdd dateDiff year month day hour minute second. Methods
(`x.name(args)` is `name(x, args)`): toUpperCase toLowerCase trim includes startsWith
endsWith replace replaceAll split join reverse first last slice toString toFixed. Unknown
functions and methods, and wrong argument counts, are syntax errors at load time.

Limits: text up to 10,000 characters, nesting and tree depth up to 100 (syntax errors);
strings and arrays an expression builds are bounded by the scope's max_string_length and
max_array_length (ExpressionError naming the limit); long work checks the run deadline.

Safety: the language cannot reach Python. No eval of user text, no attribute access on
Python objects (fields are dict keys only; strings and arrays only through our own
functions), no names starting with `__`, no builtins, no imports; see compiler.py.
"""

from engine.errors import ExpressionError, ExpressionSyntaxError

from .expression import Expression, compile_expression
from .scope import Scope

__all__ = ["Expression", "ExpressionError", "ExpressionSyntaxError", "Scope",
           "compile_expression"]
