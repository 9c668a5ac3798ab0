# One image for the four services and the gateway; docker-compose.yml picks the process with `command`.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services ./services
COPY gateway ./gateway
RUN pip install --no-cache-dir .
USER nobody
EXPOSE 8000 8001 8002 8003 8004
CMD ["python", "-m", "gateway", "--host", "0.0.0.0", "--port", "8000"]
