def main():
    import importlib.resources as r
    f = r.files("depthblur_cli.model_files") / "u2netp.onnx"
    print(f, f.is_file())
