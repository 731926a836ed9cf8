"""revline.attribution"""
