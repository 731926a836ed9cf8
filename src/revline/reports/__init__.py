"""revline.reports"""
