"""Thaiyyal's expression language: our own lexer, parser and compiler.

Contract used by the payload loader and the nodes (keep it stable):

    expr = compile_expression("item % 3 == 0")   # ExpressionSyntaxError(reason, column) if bad
    expr.source                                   # the text
    expr.evaluate(scope, input=x)                 # -> value; ExpressionError on failure
    expr.evaluate(scope, input=x, item=v, index=i, items=arr, accumulator=acc)
    expr.filter(items, scope, input=x)            # -> (kept items, error_count); an item whose
                                                  #    evaluation errors is not kept
    expr.map(items, scope, input=x)               # -> (results, failed_count); failed items dropped
    expr.reduce(items, initial, scope, input=x)   # -> accumulated value; ExpressionError names index

Names: `item` is the current element in per-item evaluation; `input` is the node's input;
a bare name resolves on `item` when there is one, else on `input`.
"""
