"""revline.identity"""
