"""revline.models"""
