# corpus: runnable
import kutils.np_utils as npu
import kutils.generic_utils as gu

assert npu.normalize([[0.0, 2.0]]).tolist() == [[0.0, 1.0]]
assert gu.has_arg(lambda a, b: None, "b")
