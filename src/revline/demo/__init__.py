"""revline.demo"""
