"""The surfaces: the `edition-qa` CLI, the Gradio chat UI and the rendering they share."""
