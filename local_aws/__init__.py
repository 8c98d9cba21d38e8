"""Local twins of each AWS service the pipeline uses, and ``cloud.LocalCloud``, which wires them."""
