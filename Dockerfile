# The Home Service image: one image, several commands (web, worker, beat); see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/app/var
WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
COPY homeservice ./homeservice
COPY products ./products
COPY recommendations ./recommendations
COPY ui_templates ./ui_templates
COPY manage.py ./
RUN pip install --no-cache-dir -c constraints.txt . \
    && DEBUG=true python manage.py collectstatic --noinput -v 0 \
    && useradd --create-home --uid 10001 app && mkdir -p /app/var && chown -R app /app/var
USER app

EXPOSE 8000
# --ws-max-size: the largest WebSocket message a client may send (as make run; docs/websocket.md).
CMD ["python", "-m", "uvicorn", "homeservice.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--lifespan", "off", "--ws-max-size", "65536"]
