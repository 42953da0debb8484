# corpus: runnable
import os
import tempfile

from keras.utils.data_utils import get_file, validate_file

folder = tempfile.mkdtemp()
source = os.path.join(folder, "source.txt")
with open(source, "w") as f:
    f.write("data")
path = get_file("copy.txt", "file://" + source, cache_dir=folder)
assert open(path).read() == "data"
assert validate_file(path, "8d777f385d3dfec8815d20f7496026dc", algorithm="md5")
