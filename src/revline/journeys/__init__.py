"""revline.journeys"""
