"""revline.api"""
