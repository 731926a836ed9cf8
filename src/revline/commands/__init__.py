"""revline.commands"""
