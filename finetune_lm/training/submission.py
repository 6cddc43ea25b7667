"""The submission files' format (no TensorFlow: predict's GLUE upload builds them in
memory): a header `index<TAB>prediction`, then one line per example."""


def submission_text(index, predictions):
    """The whole file: each example's id and its prediction as the task writes it."""
    return "index\tprediction\n" + "".join("%s\t%s\n" % (i, p) for i, p in zip(index, predictions))
